"""Sphinx configuration of the course site (`make book`): the executed notebooks of a
`make course` run, rendered with myst-nb, never executed again here."""

project = "nn-recipe"
author = "nn-recipe"
copyright = "2026, nn-recipe"
extensions = ["myst_nb"]
nb_execution_mode = "off"  # pages show the outputs of the run that produced them
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]  # widget state: shown as text offline
html_theme = "sphinx_book_theme"
html_title = "nn-recipe: a recipe for training neural networks"
html_theme_options = {
    "repository_url": "https://github.com/nn-recipe/nn-recipe",
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"colab_url": "https://colab.research.google.com",
                       "binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "show_navbar_depth": 1,
}
html_favicon = "favicon.svg"
html_context = {"default_mode": "light"}  # an unset mode logs a console error in the theme
html_last_updated_fmt = None
