"""roost.node"""
