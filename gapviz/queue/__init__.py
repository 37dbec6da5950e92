"""The job queue: Redis connection, submission, jobs, live events, workers, the embedded server and `gapviz up`."""
