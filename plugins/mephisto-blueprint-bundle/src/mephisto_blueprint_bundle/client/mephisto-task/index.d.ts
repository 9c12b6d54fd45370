/** Types of the `mephisto-task` ES module (a wrapper over window.mephisto from /mephisto-task.js). */

/** Where the page goes once a submission from a paid platform's link is stored. */
export interface Completion {
  url: string;
  method: "GET" | "POST";
  fields: Record<string, string>;
  label: string | null;
}

/** What the page knows about its unit. */
export interface TaskInfo<TaskData = Record<string, unknown>> {
  /** The blueprint's data for this unit (the bundle blueprint: the data row's columns). */
  initialTaskData: TaskData | null;
  isPreview: boolean;
  isOnboarding: boolean;
  agentId: string | null;
  unitId: string | null;
  /** The worker id the link carried (?worker_id=, workerId, PROLIFIC_PID), or null. */
  workerId: string | null;
  alreadySubmitted: boolean;
  completion: Completion | null;
  /** Date.now() value at which the unit's time runs out, or null. */
  deadline: number | null;
  /** The socket to the router is open. */
  connected: boolean;
}

/** The router's answer to a stored submission. */
export interface Submitted {
  type: "submitted";
  id: number;
  submit_key: string;
  next: "done" | "onboarding_passed" | "onboarding_failed";
  completion: Completion | null;
}

/** A refused page (`reason`) or a refused request (`code`, with per-field messages in `fields`). */
export interface MephistoError extends Error {
  code?: string;
  reason?: string;
  fields?: Record<string, string>;
}

export type Files = Record<string, File | Blob | File[] | Blob[] | FileList | null | undefined>;
export type Unsubscribe = () => void;

export function getClient(): unknown;
export function getWorkerId(): string | null;
export function getTaskInfo<TaskData = Record<string, unknown>>(): TaskInfo<TaskData>;
export function whenReady<TaskData = Record<string, unknown>>(): Promise<TaskInfo<TaskData>>;
export function handleSubmit(outputs: Record<string, unknown>, files?: Files): Promise<Submitted>;
/** Call the task's Python procedure `name` with `args` (JSON); resolves with its answer, rejects with `code`. */
export function call<Result = unknown>(name: string, args?: unknown): Promise<Result>;
export function complete(): boolean;
export function nextUnit(): void;
export function sendMessage(data: unknown): void;
export function onMessage(callback: (data: unknown) => void): Unsubscribe;
export function onStatus(callback: (status: string) => void): Unsubscribe;
export function onConnection(callback: (connected: boolean) => void): Unsubscribe;
export function showMessage(title: string, text?: string): void;
export function blockedExplanation(reason: string): string;
