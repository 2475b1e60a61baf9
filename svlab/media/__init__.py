"""Video processor: frames to MP4 and back, probing, placeholder cards, concatenation.

Everything runs through the ffmpeg binary that imageio-ffmpeg ships; see docs/processor.md.
"""

from svlab.media.concat import concat_videos
from svlab.media.ffmpeg import ffmpeg_exe, probe
from svlab.media.placeholder import find_font, placeholder_image
from svlab.media.video_io import read_video, to_uint8_frames, write_video

__all__ = ["concat_videos", "ffmpeg_exe", "find_font", "placeholder_image", "probe",
           "read_video", "to_uint8_frames", "write_video"]
from svlab.media.interpolate import iter_interpolate, resample_fps  # not `interpolate`: the module keeps its name
