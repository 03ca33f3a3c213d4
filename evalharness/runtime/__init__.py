"""Process plumbing shared by stages: file locks, forked workers, GC pauses, the HTTP client."""
