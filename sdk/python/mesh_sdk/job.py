"""The :class:`Job` record: a typed view of the API's job object.

The fields are the ones openapi.json documents (missing ones are None), so code can write
``job.output_cid`` instead of digging in dicts; ``raw`` keeps the whole answer, including fields
a newer node adds, so nothing the node said is lost.
"""

import dataclasses

from .errors import BadResponse

__all__ = ['Job', 'TERMINAL_STATES']

TERMINAL_STATES = ('succeeded', 'failed', 'cancelled')


@dataclasses.dataclass(frozen=True)
class Job:
    """One job as the node last described it (a snapshot: call ``Client.job`` to refresh)."""
    id: str
    state: str
    seq: int = None
    reason: str = None
    outcome: str = None
    exit_code: int = None
    fuel_used: int = None
    output_cid: str = None
    files_cid: str = None  # the output tree (a directory manifest), with an output_dir
    stored_output: str = None  # the stored file holding the output, with a store_output
    attempts: int = None
    priority: int = None
    labels: dict = None
    submitter: str = None
    placement: str = None
    submitted_at: str = None
    started_at: str = None
    finished_at: str = None
    queue_wait_ms: float = None
    run_ms: float = None
    spec: dict = None
    report: dict = None
    raw: dict = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d):
        """Builds a Job from the API's JSON object; an answer without ``id`` and ``state`` is
        a BadResponse rather than a Job full of Nones."""
        if not isinstance(d, dict) or not isinstance(d.get('id'), str) \
                or not isinstance(d.get('state'), str):
            raise BadResponse(200, 'bad_response', f'not a job object: {str(d)[:200]}')
        names = {f.name for f in dataclasses.fields(cls)} - {'raw'}
        return cls(**{k: v for k, v in d.items() if k in names}, raw=d)

    @property
    def done(self):
        """True once the job has ended (succeeded, failed or cancelled): it will not change."""
        return self.state in TERMINAL_STATES

    @property
    def ok(self):
        """True if the job succeeded."""
        return self.state == 'succeeded'
