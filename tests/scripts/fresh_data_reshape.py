"""Code written for the published plugin's fresh C-contiguous arrays: reshapes `data` in place and
casts a memoryview of it (both fail on a view with gaps between channels), doubling the signal."""


class PyProcessor:
    fresh_data = True  # the published plugin's fresh C-contiguous array each buffer

    def __init__(self, processor, num_channels, sample_rate):
        pass

    def process(self, data):
        rows = data.shape[0]
        assert memoryview(data).cast("B").nbytes == data.nbytes
        data.shape = (-1,)
        data *= 2.0
        data.shape = (rows, -1)
