"""roost.metrics"""
