from pretrainkit.losses.barlow import BarlowTwinsLoss
from pretrainkit.losses.byol import BYOLLoss
from pretrainkit.losses.mocov3 import MoCoV3Loss
from pretrainkit.losses.ntxent import NTXentLoss, nt_xent
from pretrainkit.losses.vicreg import VICRegLoss

__all__ = ["BYOLLoss", "BarlowTwinsLoss", "MoCoV3Loss", "NTXentLoss", "VICRegLoss", "nt_xent"]
