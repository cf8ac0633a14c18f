"""Job functions: `def job(ctx: scheduler.context.JobContext) -> int`, referenced from scheduler.registry."""
