"""Running jobs on their own: the job queue, the scheduler, and what they report (no Qt)."""
