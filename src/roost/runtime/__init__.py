"""roost.runtime"""
