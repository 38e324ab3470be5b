"""Transcode: every uploaded source becomes an adaptive HLS ladder."""
