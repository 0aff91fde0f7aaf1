"""Snapshots to and from remote stores: uploading with proof, fetching, scanning what a
remote holds, and what should go up or be pruned there (plans)."""
