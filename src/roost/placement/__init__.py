"""roost.placement"""
