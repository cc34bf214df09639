"""The ground every room stands on: error classes and paths (imports nothing of the project)."""
