import type { AgentControl, AgentPush } from '../client/agent-types';

/**
 * What the tray needs from an agent: the control methods plus pushed updates. The in-process
 * Agent (Electron main) and a ControlClient (a tray or page talking to a running `tapgate agent`)
 * both fit.
 */
export interface AgentSource extends AgentControl {
  subscribe(listener: (push: AgentPush) => void): () => void;
}

/** Pushes the tray adds for its own windows, beside the agent's. */
export type TrayPush = AgentPush | { event: 'tap-view'; data: { problem: string } };
