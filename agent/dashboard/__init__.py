"""The live dashboard the agent serves to a browser (README, "Dashboard")."""
