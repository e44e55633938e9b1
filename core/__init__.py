"""The ground floor every layer may use: the error hierarchy, the settings, process tuning."""
