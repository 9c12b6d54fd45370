/** Types of `mephisto-task/react`. */
import type { Completion, Files, MephistoError, Submitted } from "./index";

export interface MephistoTask<TaskData = Record<string, unknown>> {
  /** Waiting for the router's answer to this page. */
  isLoading: boolean;
  /** The page has its unit (or preview). */
  loaded: boolean;
  isPreview: boolean;
  isOnboarding: boolean;
  /** The unit's data (the bundle blueprint: the data row's columns; the onboarding or preview data). */
  initialTaskData: TaskData | null;
  /** Same as initialTaskData. */
  taskData: TaskData | null;
  agentId: string | null;
  unitId: string | null;
  /** The worker id the link carried (?worker_id=, workerId, PROLIFIC_PID), or null. */
  workerId: string | null;
  /** Same as workerId (the original hook's name). */
  providerWorkerId: string | null;
  alreadySubmitted: boolean;
  completion: Completion | null;
  deadline: number | null;
  /** Why the router refused this page (no_units, blocked, max_units_reached, ...), or null. */
  blockedReason: string | null;
  /** The refusal in words, or null. */
  blockedExplanation: string | null;
  /** The socket to the router is open. */
  connected: boolean;
  /** The last unit status the router pushed (timed_out, returned, ...), or null. */
  status: string | null;
  submitting: boolean;
  submitted: boolean;
  /** The router's answer to this page's submission (its `next` says whether onboarding passed), or null. */
  submission: Submitted | null;
  /** The last refusal or failed submission; `fields` holds the server's per-field messages. */
  error: MephistoError | null;
  /** Upload `files` (field name -> File(s)), then send `outputs`; rejects (and sets `error`) when refused. */
  handleSubmit(outputs: Record<string, unknown>, files?: Files): Promise<Submitted>;
  /** Call the task's Python procedure `name` with `args` (JSON); resolves with its answer, rejects with `code`. */
  call<Result = unknown>(name: string, args?: unknown): Promise<Result>;
  /** `remoteProcedure(name)(args)` is `call(name, args)` (the original remote-procedure hook's shape). */
  remoteProcedure<Result = unknown>(name: string): (args?: unknown) => Promise<Result>;
  /** Replace the page with an error message. */
  handleFatalError(error: unknown): void;
  /** After a stored submission from a paid platform's link: go back to the platform (false: no such step). */
  complete(): boolean;
  /** Leave this unit and take the next one. */
  nextUnit(): void;
}

export function useMephistoTask<TaskData = Record<string, unknown>>(): MephistoTask<TaskData>;
