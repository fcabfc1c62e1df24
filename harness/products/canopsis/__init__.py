"""Canopsis product knowledge: version rules, release notes, the API client, AMQP helpers, the runbook's actions."""
