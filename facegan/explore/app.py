"""The explorer's page on Gradio: each control calls one Explorer method. Every action is also an API endpoint
(api_name), so the page can be driven by Gradio's own client as well as by a browser."""

import os
import tempfile
from pathlib import Path

import gradio as gr
import torch

from facegan.explore.explorer import Explorer

# Steps a direction slider moves a face, in standard deviations of z; the sweep shows these amounts.
DIRECTION_RANGE = 3.0
SWEEP_AMOUNTS = [-3.0, -1.5, 0.0, 1.5, 3.0]
NEIGHBOURS_SHOWN = 5
# System fonts only: the page loads no font from the internet (it runs on machines without it).
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def face_choices(kept: list) -> list[str]:
    return [f"face {number}" for number in range(1, len(kept) + 1)]


def build_app(explorer: Explorer, workdir: Path | None = None) -> gr.Blocks:
    """The page for `explorer`. Animations are written under `workdir` (a temporary folder by default)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="facegan-explore-"))
    generators = list(explorer.generators)
    count = len(explorer.directions)

    def show_page(seed: float | None, psi: float):
        if seed is None or not 0 <= seed < 2**63 or seed != int(seed):
            raise gr.Error(f"Seed {seed} is not a whole number from 0 up, e.g. 0")
        pictures, z = explorer.page(int(seed), float(psi))
        return pictures, z.tolist()

    def keep(number: float, page_z: list, kept: list):
        """Keep the page's face `number` (1-based); every face menu gets it."""
        if not page_z:
            raise gr.Error("Show a page of faces first")
        index = int(number) - 1
        if not 0 <= index < len(page_z):
            raise gr.Error(f"face {int(number)} is not on the page: pick 1 to {len(page_z)}")
        kept = [*kept, page_z[index]]
        strip = explorer.strip(torch.tensor(kept))
        choices = face_choices(kept)
        newest = choices[-1]
        menus = [gr.update(choices=choices, value=value) for value in (choices[0], newest, newest, newest)]
        return kept, strip, *menus

    def keep_clicked(page_z: list, kept: list, event: gr.SelectData):
        return keep(event.index + 1, page_z, kept)

    def chosen(kept: list, choice: str | None) -> torch.Tensor:
        if not kept or not choice:
            raise gr.Error("Keep a face first: click one on the page")
        if choice not in face_choices(kept):
            raise gr.Error(f"{choice} is not a kept face: pick one of {', '.join(face_choices(kept))}")
        return torch.tensor(kept[int(choice.split()[-1]) - 1])

    def interpolate(kept: list, first: str, second: str, steps: float):
        handle, name = tempfile.mkstemp(dir=workdir, prefix="interpolation-", suffix=".gif")  # one per request
        os.close(handle)
        gif = Path(name)
        strip = explorer.interpolation(chosen(kept, first), chosen(kept, second), int(steps), gif)
        return strip, str(gif)

    def move(kept: list, choice: str, *amounts: float):
        return explorer.moved(chosen(kept, choice), list(amounts))

    def sweep(kept: list, choice: str):
        return explorer.direction_sweep(chosen(kept, choice), SWEEP_AMOUNTS)

    def nearest(kept: list, choice: str):
        if explorer.neighbours is None:
            raise gr.Error("Started without training images: give data.root (and the run's data settings)")
        return explorer.nearest_training(chosen(kept, choice), NEIGHBOURS_SHOWN)

    def compare(page_z: list, left: str, right: str):
        if not page_z:
            raise gr.Error("Show a page of faces first")
        return explorer.compare(torch.tensor(page_z), left, right)

    with gr.Blocks(title="facegan explorer", theme=THEME, analytics_enabled=False) as app:
        page_z = gr.State([])
        kept = gr.State([])
        gr.Markdown(f"# facegan explorer\nGenerator: **{explorer.main}**. Click a face to keep it.")
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
            psi = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Truncation (1: none)", elem_id="truncation")
            show = gr.Button("Show faces", variant="primary", elem_id="show")
        # no preview: a click keeps the face instead of opening it large
        page = gr.Gallery(
            label="Faces", columns=explorer.settings.columns, height="auto", allow_preview=False, format="png",
            elem_id="page",
        )  # fmt: skip
        with gr.Row(equal_height=True):
            with gr.Column(scale=1, min_width=200):
                number = gr.Number(value=1, precision=0, label="Face number", elem_id="face-number")
                keep_button = gr.Button("Keep face", elem_id="keep")
            kept_strip = gr.Image(
                label="Kept faces: face 1, face 2, ... from the left", type="pil", format="png", scale=4, height=160,
                elem_id="kept",
            )  # fmt: skip
        menus = {}
        with gr.Tab("Interpolate"):
            with gr.Row():
                menus["first"] = gr.Dropdown([], label="From", allow_custom_value=True, elem_id="from")
                menus["second"] = gr.Dropdown([], label="To", allow_custom_value=True, elem_id="to")
                steps = gr.Slider(3, 16, value=8, step=1, label="Steps")
                interpolate_button = gr.Button("Interpolate", elem_id="interpolate")
            strip = gr.Image(label="Spherical interpolation", type="pil", format="png")
            animation = gr.Image(label="Animation", type="filepath")
        with gr.Tab("Directions"):
            gr.Markdown(
                "Latent directions found without labels (GANSpace: principal components of the generator's first "
                "layer, mapped back to z), strongest first; each slider moves the kept face along one."
            )
            menus["direction_face"] = gr.Dropdown([], label="Face", allow_custom_value=True, elem_id="direction-face")
            with gr.Row():
                with gr.Column():
                    sliders = [
                        gr.Slider(-DIRECTION_RANGE, DIRECTION_RANGE, value=0.0, step=0.25,
                                  label=f"Direction {k + 1} ({explorer.directions.explained[k]:.0%} of the variance)",
                                  elem_id=f"direction-{k + 1}")
                        for k in range(count)
                    ]  # fmt: skip
                moved = gr.Image(label="Moved face", type="pil", format="png", elem_id="moved")
            sweep_button = gr.Button("Show every direction", elem_id="sweep")
            sweep_image = gr.Image(label=f"Each direction at {SWEEP_AMOUNTS}", type="pil", format="png")
        with gr.Tab("Nearest training images"):
            gr.Markdown(
                "Is it copying? The face beside its nearest training images (Inception features), each with its "
                "distance and, in brackets, that distance over a real face's typical distance to its nearest other "
                "training image: well below 1 looks like a copy."
                if explorer.neighbours is not None
                else "Start facegan-explore with data.root=<the training images> to look training images up."
            )
            menus["nearest_face"] = gr.Dropdown([], label="Face", allow_custom_value=True, elem_id="nearest-face")
            nearest_button = gr.Button("Find nearest", elem_id="nearest")
            neighbours = gr.Gallery(
                label="Face and nearest training images", columns=NEIGHBOURS_SHOWN + 1, format="png"
            )
        with gr.Tab("Compare"):
            gr.Markdown("The page's faces through two generators on the same z.")
            with gr.Row():
                left = gr.Dropdown(generators, value=generators[0], label="Left")
                right = gr.Dropdown(generators, value=generators[-1], label="Right")
                compare_button = gr.Button("Compare", elem_id="compare")
            with gr.Row():
                left_image = gr.Image(label="Left", type="pil", format="png")
                right_image = gr.Image(label="Right", type="pil", format="png")

        menu_list = [menus["first"], menus["second"], menus["direction_face"], menus["nearest_face"]]
        show.click(show_page, [seed, psi], [page, page_z], api_name="page")
        keep_button.click(keep, [number, page_z, kept], [kept, kept_strip, *menu_list], api_name="keep")
        page.select(keep_clicked, [page_z, kept], [kept, kept_strip, *menu_list], show_api=False)
        interpolate_button.click(
            interpolate, [kept, menus["first"], menus["second"], steps], [strip, animation], api_name="interpolate"
        )
        for slider in sliders:
            slider.change(move, [kept, menus["direction_face"], *sliders], moved, show_api=False)
        menus["direction_face"].change(move, [kept, menus["direction_face"], *sliders], moved, api_name="move")
        sweep_button.click(sweep, [kept, menus["direction_face"]], sweep_image, api_name="sweep")
        nearest_button.click(nearest, [kept, menus["nearest_face"]], neighbours, api_name="nearest")
        compare_button.click(compare, [page_z, left, right], [left_image, right_image], api_name="compare")
    return app
