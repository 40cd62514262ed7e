"""Repositories: reading files at a commit and reporting back to the forge.

``worker.repos.reader.RepoReader`` reads (``worker.repos.runtime.open_reader`` builds the worker's), the
``repos:`` settings are ``worker.repos.config``, commit statuses ``worker.repos.statuses``. This package module
imports nothing, so that the settings can import ``worker.repos.config`` without a cycle.
"""
