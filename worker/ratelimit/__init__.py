"""A rate limit and a cap on concurrent requests shared by every worker process and host.

- `base.py`: What the limiter and its backends agree on: the backend interface, its configuration and answers.
- `limiter.py`: A rate limit and a cap on concurrent requests shared by every worker process and host.
- `redis.py`: The limiter's shared state in Redis: one Lua script, so every step is atomic and uses the Redis ...
- `sql.py`: The limiter's shared state in the results database (embedded mode): table `rate_limits`.
"""
