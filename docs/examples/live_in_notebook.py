# %% [markdown]
# # Live values in a notebook
# A module in the Open Ephys GUI (or `pyproc-host`) publishes with `self.processor.publish(name, value)`;
# this notebook finds it and plots one of its names as the values arrive. Run the GUI first.

# %%
from oe_pyproc import live

for instance in live.instances():
    print(instance.label, "in", instance.program, instance.names())

# %%
import time

import numpy as np


def collect(name, count, instance=None, start="now"):
    """The next `count` values published under `name`: (seconds, values)."""
    instance = instance or next(i for i in live.instances() if name in i.names())
    reader = instance.reader(start)
    times, values = [], []
    while len(values) < count:
        frames = reader.read()
        for frame in frames:
            if frame.name == name:
                times.append(frame.sample_number / instance.sample_rate)
                values.append(frame.value)
        if not frames:
            time.sleep(0.02)
    return np.array(times[:count]), np.array(values[:count])


# %%
import matplotlib.pyplot as plt

if __name__ == "__main__" or "get_ipython" in globals():
    seconds, values = collect("peak_uv", 200)  # the threshold_detector template publishes "peak_uv"
    plt.plot(seconds, values)
    plt.xlabel("seconds")
    plt.ylabel("peak (µV)")
    plt.show()
