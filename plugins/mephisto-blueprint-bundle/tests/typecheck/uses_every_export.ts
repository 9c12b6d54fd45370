// Type-checked by test_bundle_typecheck.py (tsc --strict --noEmit) in a copy of the react template: every name the
// `mephisto-task` module and its React hook export, used with the type its declaration promises. A declaration
// that changes a type, drops a name or loosens to `any` makes this file fail (the @ts-expect-error lines).
import {
  blockedExplanation,
  call,
  complete,
  getClient,
  getTaskInfo,
  getWorkerId,
  handleSubmit,
  nextUnit,
  onConnection,
  onMessage,
  onStatus,
  sendMessage,
  showMessage,
  whenReady,
  type Completion,
  type Files,
  type MephistoError,
  type Submitted,
  type TaskInfo,
  type Unsubscribe,
} from "mephisto-task";
import { useMephistoTask, type MephistoTask } from "mephisto-task/react";

interface Row {
  sentence: string;
}

interface Score {
  words: number;
}

export async function usesTheModule(): Promise<string[]> {
  const client: unknown = getClient();
  const worker: string | null = getWorkerId();
  const now: TaskInfo<Row> = getTaskInfo<Row>();
  const info: TaskInfo<Row> = await whenReady<Row>();
  const sentence: string | undefined = info.initialTaskData?.sentence;
  const flags: boolean[] = [info.isPreview, info.isOnboarding, info.alreadySubmitted, info.connected, now.connected];
  const ids: (string | null)[] = [info.agentId, info.unitId, info.workerId, worker];
  const deadline: number | null = info.deadline;
  const link: Completion | null = info.completion;
  const method: "GET" | "POST" | undefined = link?.method;
  const files: Files = { photo: new File(["x"], "x.txt"), more: [new Blob(["y"])], none: null };
  const answer: Submitted = await handleSubmit({ label: "positive" }, files);
  const plain: Submitted = await handleSubmit({ label: "positive" });
  const next: "done" | "onboarding_passed" | "onboarding_failed" = answer.next;
  const key: string = plain.submit_key;
  const scored: Score = await call<Score>("score", { text: "two words" });
  const anything: unknown = await call("ping");
  const back: boolean = complete();
  nextUnit();
  sendMessage({ text: "hello" });
  const stops: Unsubscribe[] = [
    onMessage((data: unknown) => console.log(data)),
    onStatus((status: string) => console.log(status.toUpperCase())),
    onConnection((connected: boolean) => console.log(connected)),
  ];
  stops.forEach((stop) => stop());
  showMessage("Sorry");
  showMessage("Sorry", "This task has ended.");
  const why: string = blockedExplanation("blocked");
  try {
    await call("score", null);
  } catch (thrown) {
    const err = thrown as MephistoError;
    const code: string | undefined = err.code ?? err.reason;
    const fields: Record<string, string> | undefined = err.fields;
    console.log(code, fields, err.message);
  }
  // @ts-expect-error a procedure has a name
  call();
  // @ts-expect-error its answer is unknown until the caller names its type
  console.log((await call("score", {})).words);
  // @ts-expect-error the link may carry no worker id
  const certain: string = getWorkerId();
  // @ts-expect-error the outputs are an object of fields
  handleSubmit("positive");
  // @ts-expect-error the status callback gets a string
  onStatus((status: number) => status);
  console.log(client, flags, ids, deadline, method, next, key, scored.words, anything, back, certain);
  return [sentence ?? "", why];
}

export function usesTheHook(): MephistoTask<Row> {
  const task = useMephistoTask<Row>();
  const flags: boolean[] = [
    task.isLoading,
    task.loaded,
    task.isPreview,
    task.isOnboarding,
    task.alreadySubmitted,
    task.connected,
    task.submitting,
    task.submitted,
  ];
  const rows: (Row | null)[] = [task.initialTaskData, task.taskData];
  const ids: (string | null)[] = [task.agentId, task.unitId, task.workerId, task.providerWorkerId];
  const texts: (string | null)[] = [task.blockedReason, task.blockedExplanation, task.status];
  const link: Completion | null = task.completion;
  const deadline: number | null = task.deadline;
  const submission: Submitted | null = task.submission;
  const error: MephistoError | null = task.error;
  const sent: Promise<Submitted> = task.handleSubmit({ label: "positive" }, { photo: null });
  const scored: Promise<Score> = task.call<Score>("score", { text: "two words" });
  const score: (args?: unknown) => Promise<Score> = task.remoteProcedure<Score>("score");
  const again: Promise<unknown> = score({ text: "again" });
  task.handleFatalError(new Error("broken"));
  const back: boolean = task.complete();
  task.nextUnit();
  // @ts-expect-error remoteProcedure takes the procedure's name only
  task.remoteProcedure("score", {});
  // @ts-expect-error isLoading is a boolean
  const loading: string = task.isLoading;
  console.log(flags, rows, ids, texts, link, deadline, submission, error, sent, scored, again, back, loading);
  return task;
}
