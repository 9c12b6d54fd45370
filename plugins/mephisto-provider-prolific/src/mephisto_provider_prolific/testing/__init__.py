"""A local fake of Prolific's public API (https://docs.prolific.com/api-reference) for tests.

`FakeProlific` serves the REST API the `prolific` provider uses on 127.0.0.1, so the real httpx client runs
end to end, plus the participant's side (take a place, reach the completion URL, return, time out) and failure
injection (429 with Retry-After, 5xx, dropped connections).

Implemented from the documentation:
- auth `Authorization: Token <key>`; a bad key is a 401 in Prolific's error body
  `{"error": {status, error_code, title, detail, additional_information, traceback, interactive}}`;
- users/me/; workspaces/ list/create/get, workspaces/{id}/balance/, workspaces/{id}/projects/ list/create,
  projects/{id}/ and projects/{id}/studies/;
- studies/: create a draft (name, internal_name, description, external_study_url with {{%PROLIFIC_PID%}}
  {{%STUDY_ID%}} {{%SESSION_ID%}}, prolific_id_option, completion_codes [{code, code_type, actions}],
  estimated_completion_time and maximum_allowed_time in minutes, reward in cents, total_available_places,
  device_compatibility, filters, project), get, list (`?state=(ACTIVE|PAUSED)`), PATCH, DELETE of drafts,
  POST studies/{id}/transition/ with PUBLISH / PAUSE / START / STOP over UNPUBLISHED, ACTIVE, PAUSED,
  AWAITING REVIEW, COMPLETED; STOP is final; a full study whose places free up pauses itself;
  after publishing only internal_name and total_available_places change; places never drop below those taken;
- submissions: list per study (`?study=` or studies/{id}/submissions/) with `results` / `_links` / `meta`
  pagination (`page`, `page_size`), get, POST submissions/{id}/transition/ (APPROVE; REJECT needs a message of
  at least 100 characters and a rejection_category from Prolific's list; COMPLETE with a completion_code;
  repeating the same action is ignored), POST submissions/bulk-approve/ (study_id + participant_ids, or
  submission_ids), POST submissions/{id}/request-return/ (request_return_reasons; sets return_requested);
- bonuses: POST submissions/bonus-payments/ (study_id, csv_bonuses lines "<participant or submission id>,<amount
  in pounds/dollars>") -> {id, study, amount, fees, vat, total_amount} in cents; POST bulk-bonus-payments/{id}/pay/
  -> 202; ids that did not take part in the study are a 400 naming them;
- messages/ (POST recipient_id, study_id, body; GET ?user_id=), messages/bulk/ (POST ids, body, study_id: one
  message to up to 4,000 participants of the study); participant-groups/ create / list / get / PATCH /
  DELETE and participant-groups/{id}/participants/ GET / POST / DELETE (adding a member twice is ignored);
  filters `participant_group_allowlist` / `participant_group_blocklist` decide who may start a study;
- completion codes' actions AUTOMATICALLY_APPROVE, MANUALLY_REVIEW, ADD_TO / REMOVE_FROM_PARTICIPANT_GROUP; a
  FIXED_SCREENOUT code makes the submission SCREENED OUT;
- the participant's side: `start` (ACTIVE submission, a place taken, the study URL with the placeholders filled),
  the completion URL `GET /submissions/complete?cc=CODE` (AWAITING REVIEW when the code is the study's),
  `return_submission` (RETURNED, place freed), `time_out` / `advance` past maximum_allowed_time (TIMED-OUT);
- for tests and benchmarks: `approve_in_background` (bulk approvals show a few reads later, as Prolific answers
  them "in progress"), `add_approved_submissions` (a large study's past at once), `set_latency` (every API
  call answered that much later), `fail_next` (an error or a dropped connection), the request log `requests`,
  `bonus_requests_at_once` (the most bonus requests answered at the same moment: Prolific supports one).

Guessed where the documentation is silent (tests should not depend on the exact words):
- error codes, titles and detail texts; the message a 429 carries; the bulk-approve reply body;
- fees (a third of the amount) and VAT (a fifth of the fee); default maximum_allowed_time (3 x estimate + 2);
- a full ACTIVE study moves to AWAITING REVIEW once nobody is still working and back to ACTIVE when places
  grow; shrinking places is allowed down to the places taken (Prolific may only allow growing);
- paying a bulk bonus twice is refused by default (Prolific documents that it pays again: `pay_twice=True`);
- PUBLISH checks the workspace balance but does not deduct it (bonus payments do deduct);
- transient statuses (RESERVED, PUBLISHING, PROCESSING, SCHEDULED) never appear;
- the completion page knows the participant by a `prolific_session` cookie (`browser_cookies(visit)` gives it
  to a browser; Prolific knows them by their login) or `?session_id=`, else by the only ACTIVE submission the
  code fits; the request-return path and its reply are taken from the docs' description, not a live call.
"""

from mephisto_provider_prolific.testing._faults import RecordedRequest
from mephisto_provider_prolific.testing._submissions import REJECTION_CATEGORIES, ParticipantRefused
from mephisto_provider_prolific.testing.fake import DEFAULT_API_KEY, CompletionResult, FakeProlific, Visit

__all__ = [
    "DEFAULT_API_KEY",
    "REJECTION_CATEGORIES",
    "CompletionResult",
    "FakeProlific",
    "ParticipantRefused",
    "RecordedRequest",
    "Visit",
]
