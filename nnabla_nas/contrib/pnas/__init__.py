"""MobileNetV2-style building blocks (the ProxylessNAS family of search spaces)."""
from .blocks import InvertedResidual, MobileNetV2Like, random_mobilenet

__all__ = ["InvertedResidual", "MobileNetV2Like", "random_mobilenet"]
