// The approval buttons' contract: the action ids Fledge posts and the value each button carries
// back. Both the message builder (src/notify/slack-messages.ts) and the click judge
// (src/slack/click.ts) read it here, so neither folder imports the other for it.
export const APPROVE_ACTION = "fledge.approve";
export const REJECT_ACTION = "fledge.reject";

/** What a button carries back: enough to find the Rollout, and the gate it was posted for. */
export interface GateButtonValue {
  namespace: string;
  name: string;
  token: string;
  /** The cluster whose operator posted it (--cluster-name). */
  cluster?: string;
}
