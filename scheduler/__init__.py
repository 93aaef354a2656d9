"""Everything that produces work or reports on it: intake, planning, submit/run, the command line."""

from .jobs import DocumentSummary, Job, JobProgress
from .submit import run, submit

__all__ = ["DocumentSummary", "Job", "JobProgress", "run", "submit"]
