"""The DARTS search space (Liu et al., 2019, "DARTS: Differentiable Architecture Search")."""
