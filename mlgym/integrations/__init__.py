"""Adapters for the RL stacks researchers train with: OpenEnv (mlgym serve), verifiers, TRL, Ray env pools."""
