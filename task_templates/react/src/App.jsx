import { useState } from "react";
import { useMephistoTask } from "mephisto-task/react";

const LABELS = ["positive", "neutral", "negative"];

/** One unit: a sentence from data.csv, a sentiment label and an optional comment. */
export default function App() {
  const task = useMephistoTask();
  const [label, setLabel] = useState("");
  const [comment, setComment] = useState("");

  if (task.isLoading) {
    return <p className="muted">Loading the task&hellip;</p>;
  }
  if (task.blockedReason) {
    return (
      <main>
        <h1>{task.blockedExplanation}</h1>
      </main>
    );
  }
  if (task.isPreview) {
    return (
      <main>
        <h1>Rate the sentiment of a sentence</h1>
        <p>Accept the task to see your sentence.</p>
      </main>
    );
  }
  if (task.submitted && task.isOnboarding) {
    const passed = task.submission && task.submission.next === "onboarding_passed";
    return (
      <main className="done">
        <h1>{passed ? "You passed the practice round" : "You did not pass the practice round"}</h1>
        {passed && (
          <button type="button" onClick={() => task.nextUnit()}>
            Start the task
          </button>
        )}
      </main>
    );
  }
  if (task.submitted) {
    return (
      <main className="done">
        <h1>Thank you</h1>
        <p>Your answer was submitted.</p>
        {!task.completion && (
          <button type="button" onClick={() => task.nextUnit()}>
            Do another unit
          </button>
        )}
      </main>
    );
  }

  const data = task.initialTaskData || {};
  const onSubmit = async (event) => {
    event.preventDefault();
    try {
      await task.handleSubmit({ label, comment });
      task.complete(); // back to the crowd platform when the link came from one
    } catch {
      // task.error holds the refusal; it is shown below the button.
    }
  };

  return (
    <main>
      <h1>{task.isOnboarding ? "Practice: " : ""}How does this sentence sound?</h1>
      <blockquote className="sentence">{data.sentence}</blockquote>
      <form onSubmit={onSubmit}>
        <fieldset>
          <legend>Sentiment</legend>
          {LABELS.map((name) => (
            <label key={name} className="choice">
              <input
                type="radio"
                name="label"
                value={name}
                checked={label === name}
                onChange={() => setLabel(name)}
              />{" "}
              {name}
            </label>
          ))}
        </fieldset>
        <label htmlFor="comment">Why? (optional)</label>
        <textarea id="comment" value={comment} onChange={(event) => setComment(event.target.value)} />
        <div className="actions">
          <button type="submit" disabled={!label || task.submitting}>
            {task.submitting ? "Sending…" : "Submit"}
          </button>
          {!task.connected && <span className="muted">Reconnecting&hellip;</span>}
        </div>
        {task.error && <p className="error">{task.error.message}</p>}
      </form>
    </main>
  );
}
