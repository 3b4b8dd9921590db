import torch


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL( N(mean, diag exp(log_var)) || N(0, I) ) per sample, summed over D, averaged over N:
        KL = 1/2 sum_d (mean_d^2 + exp(log_var_d) - log_var_d - 1).
    mean, log_var: (N, D) -> scalar.
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - log_var - 1).sum(1).mean()
