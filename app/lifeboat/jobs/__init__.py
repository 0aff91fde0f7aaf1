"""Long operations as jobs: validate cheaply in prepare(), do the slow part in run()."""
