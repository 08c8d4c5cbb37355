"""Comparing artifact versions: metrics, files, equity curves, trades and ``--fail-on`` rules.

One implementation serves ``artifact-store diff`` (the CLI), the HTML report and the
plugin's baseline fixture and session gate. It reads versions through the store and
imports nothing of the CLI or the plugin.
"""
