/*
 * useMephistoTask: the React hook over window.mephisto (see index.mjs).
 *
 *   const { isLoading, isPreview, initialTaskData, handleSubmit, error } = useMephistoTask();
 *
 * The names the original Mephisto's hook used for the same things are kept (isLoading, loaded, isPreview,
 * isOnboarding, initialTaskData, agentId, providerWorkerId, blockedReason, blockedExplanation, handleSubmit,
 * handleFatalError), so a ported task changes its import line only. `call(name, args)` runs one of the task's
 * Python procedures; `remoteProcedure(name)` returns `(args) => call(name, args)`, the shape the original's
 * remote-procedure hook gave.
 */
import { useCallback, useEffect, useState } from "react";
import {
  blockedExplanation as explain,
  call,
  complete,
  getClient,
  getTaskInfo,
  getWorkerId,
  handleSubmit as send,
  nextUnit,
  onConnection,
  onStatus,
  showMessage,
} from "./index.mjs";

const LOADING = {
  isLoading: true,
  loaded: false,
  initialTaskData: null,
  isPreview: false,
  isOnboarding: false,
  agentId: null,
  unitId: null,
  alreadySubmitted: false,
  completion: null,
  deadline: null,
  blockedReason: null,
  blockedExplanation: null,
};

export function useMephistoTask() {
  const [info, setInfo] = useState(LOADING);
  const [connected, setConnected] = useState(() => getClient().connected === true);
  const [status, setStatus] = useState(null);
  const [submitting, setSubmitting] = useState(false);
  const [submitted, setSubmitted] = useState(false);
  const [submission, setSubmission] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let live = true;
    const client = getClient();
    client.ready.then(
      () => {
        if (live) {
          const now = getTaskInfo();
          setInfo({ ...LOADING, ...now, isLoading: false, loaded: true });
          setSubmitted(now.alreadySubmitted);
        }
      },
      (err) => {
        if (live) {
          const reason = (err && (err.reason || err.code)) || "unavailable";
          setInfo({
            ...LOADING,
            isLoading: false,
            blockedReason: reason,
            blockedExplanation: (err && err.message) || explain(reason),
          });
          setError(err);
        }
      }
    );
    const stopConnection = onConnection((value) => live && setConnected(value));
    const stopStatus = onStatus((value) => live && setStatus(value));
    setConnected(client.connected === true);
    return () => {
      live = false;
      stopConnection();
      stopStatus();
    };
  }, []);

  const handleSubmit = useCallback(async (outputs, files) => {
    setSubmitting(true);
    setError(null);
    try {
      const answer = await send(outputs, files);
      setSubmitted(true);
      setSubmission(answer);
      setInfo((old) => ({ ...old, alreadySubmitted: true, completion: answer.completion || old.completion }));
      return answer;
    } catch (err) {
      setError(err);
      throw err;
    } finally {
      setSubmitting(false);
    }
  }, []);

  const handleFatalError = useCallback((err) => {
    showMessage("Something went wrong", (err && err.message) || String(err));
  }, []);

  const remoteProcedure = useCallback((name) => (args) => call(name, args), []);

  const workerId = getWorkerId();
  return {
    ...info,
    taskData: info.initialTaskData,
    workerId: workerId,
    providerWorkerId: workerId,
    connected: connected,
    status: status,
    submitting: submitting,
    submitted: submitted,
    submission: submission,
    error: error,
    handleSubmit: handleSubmit,
    handleFatalError: handleFatalError,
    complete: complete,
    nextUnit: nextUnit,
    call: call,
    remoteProcedure: remoteProcedure,
  };
}
