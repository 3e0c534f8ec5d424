"""Accounts, users, sub-accounts and their credentials (SPEC §6 "Fleets"): the services and the
property dialect's views of them. A floor of `platform/` above `devices/`, whose authorization
(`devices.access`) it asks; no app imports it (README, "Architecture")."""
