// JSON logs with stable keys. Rollout logs carry namespace, name, revision and step.
import winston from "winston";

const SECRET_KEYS = /token|secret|password|authorization|signature/i;

/** Replaces the value of any field whose name suggests a secret. */
const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEYS.test(key)) (info as Record<string, unknown>)[key] = "[redacted]";
  }
  return info;
});

export type Logger = winston.Logger;

export function createLogger(level = process.env.FLEDGE_LOG_LEVEL ?? "info", component = "operator"): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component },
    format: winston.format.combine(redact(), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })],
  });
}
