"""Video processor: frames to MP4 and back, probing, placeholder cards, concatenation.

Everything runs through the ffmpeg binary that imageio-ffmpeg ships; see docs/processor.md.
"""

from .ffmpeg import ffmpeg_exe, probe
from .video_io import read_video, to_uint8_frames, write_video
from .placeholder import find_font, placeholder_image
from .concat import concat_videos
