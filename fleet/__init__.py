"""The running cameras: the fleet, the cameras onboarded through the API, and their state history."""
