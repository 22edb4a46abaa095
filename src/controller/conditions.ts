// Conditions keyed by type, Kubernetes style: lastTransitionTime moves only when the status
// flips, so an unchanged condition never causes a write.
import type { Condition } from "../api/types.js";

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

export function setCondition(
  conditions: Condition[] | undefined,
  input: ConditionInput,
  now: Date,
  generation: number | undefined,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    ...input,
    lastTransitionTime: previous && previous.status === input.status ? previous.lastTransitionTime : now.toISOString(),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
