from pretrainkit.losses.ntxent import NTXentLoss, nt_xent

__all__ = ["NTXentLoss", "nt_xent"]
