"""roost.sdk"""
