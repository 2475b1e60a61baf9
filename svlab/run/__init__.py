"""Running a model: settings resolved into a config (`settings.load_config`), a clip made
stage by stage through the model's family (`stages`), kept alive by the recovery ladder
(`recovery`), or answered by the fallback engine (`clip.generate_clip`).

Nothing is imported here, so that `svlab.run.settings` stays light: the command line validates
settings with it before numpy, OpenCV or torch are worth importing.
"""
