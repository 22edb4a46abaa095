// The two charts of a Rollout's page, drawn with uPlot (canvas; smooth with many thousands of
// points): the weight Fledge set beside the canary's share of the requests the proxy actually
// served, and each check's evidence, the judge's statistic against its roll-back and accept
// boundaries, with the point where it decided.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { CheckView } from "../../src/dashboard/views.js";

type Points = NonNullable<CheckView["evidence"]>["points"];

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";

function axes(yLabel: string): uPlot.Axis[] {
  const stroke = css("--muted");
  const grid = { stroke: css("--grid"), width: 1 };
  return [
    { stroke, grid, ticks: grid },
    { stroke, grid, ticks: grid, label: yLabel, size: 56 },
  ];
}

/** A uPlot chart in a div that follows its container's width. */
function useChart(make: (width: number) => { opts: Omit<uPlot.Options, "width">; data: uPlot.AlignedData } | undefined, deps: unknown[]) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const width = Math.max(240, el.clientWidth);
    const made = make(width);
    if (!made) return;
    const plot = new uPlot({ ...made.opts, width } as uPlot.Options, made.data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(240, el.clientWidth), height: made.opts.height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, deps);
  return ref;
}

export function TrafficChart({ points }: { points: Points }) {
  const ref = useChart(() => {
    if (points.length === 0) return undefined;
    return {
      opts: {
        height: 180,
        legend: { show: true },
        scales: { y: { range: [0, 100] } },
        axes: axes("% of requests"),
        series: [
          {},
          { label: "weight set", stroke: css("--accent"), width: 2, paths: uPlot.paths.stepped?.({ align: 1 }) },
          { label: "canary share served", stroke: css("--ok"), width: 1.5, spanGaps: false },
        ],
      },
      data: [points.map((p) => p[0]), points.map((p) => p[1]), points.map((p) => (p[2] === null ? null : p[2] * 100))],
    };
  }, [points]);
  return <div class="chart" ref={ref} data-testid="traffic-chart" data-points={points.length} />;
}

/** Where the statistic first reached the roll-back boundary (Unix seconds), if it did. */
export function crossing(evidence: NonNullable<CheckView["evidence"]>): number | undefined {
  if (evidence.reject === undefined) return undefined;
  const hit = evidence.points.find((p) => p[3] !== null && p[3] >= (evidence.reject as number));
  return hit?.[0];
}

export function EvidencePlot({ check }: { check: CheckView }) {
  const evidence = check.evidence;
  const crossedAt = evidence ? crossing(evidence) : undefined;
  const ref = useChart(() => {
    if (!evidence || evidence.points.length === 0) return undefined;
    const xs = evidence.points.map((p) => p[0]);
    const statistic = evidence.points.map((p) => p[3]);
    const decided = evidence.points.map((p) => (p[0] === crossedAt ? p[3] : null));
    const series: uPlot.Series[] = [
      {},
      { label: "statistic", stroke: css("--accent"), width: 2 },
      { label: "roll back at", stroke: css("--bad"), width: 1.5, dash: [6, 4], points: { show: false } },
    ];
    const data: Array<Array<number | null>> = [xs, statistic, xs.map(() => evidence.reject ?? null)];
    if (evidence.accept !== undefined) {
      series.push({ label: "accept at", stroke: css("--ok"), width: 1.5, dash: [6, 4], points: { show: false } });
      data.push(xs.map(() => evidence.accept ?? null));
    }
    series.push({ label: "decided", stroke: css("--bad"), width: 0, points: { show: true, size: 10, fill: css("--bad") } });
    data.push(decided);
    return {
      opts: { height: 220, axes: axes(evidence.accept !== undefined ? "log-likelihood ratio" : "error rate"), series },
      data: data as uPlot.AlignedData,
    };
  }, [evidence]);
  if (!evidence || evidence.points.length === 0) return <p class="muted">No evidence yet: the first reading is the baseline.</p>;
  return (
    <div
      class="chart"
      ref={ref}
      data-testid={`evidence-${check.name}`}
      data-points={evidence.points.length}
      data-reject={evidence.reject}
      data-crossed-at={crossedAt ?? ""}
      role="img"
      aria-label={`${check.name}: the statistic over time against its boundaries${crossedAt ? `; it crossed the roll-back boundary at ${new Date(crossedAt * 1000).toLocaleTimeString()}` : ""}`}
    />
  );
}
