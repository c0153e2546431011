"""The wire contract: topic names and settings, message models, JSON Schema export.

Imports nothing else of the project, so outside producers, the agents, the
gateway and the tests all speak through the same models.
"""
