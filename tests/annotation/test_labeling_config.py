import xml.etree.ElementTree as ET
from importlib import resources

from vpbench.core.attributes import ATTRIBUTES


def test_labeling_config_has_one_required_yes_no_choice_per_attribute():
    path = resources.files("vpbench") / "resources" / "annotation" / "labeling-config.xml"
    root = ET.fromstring(path.read_text())
    video = root.find("Video")
    assert video is not None and video.get("value") == "$video"
    choices = {c.get("name"): c for c in root.iter("Choices")}
    assert list(choices) == list(ATTRIBUTES)
    for name, c in choices.items():
        assert c.get("toName") == video.get("name") and c.get("required") == "true" and c.get("hint")
        assert [x.get("value") for x in c.iter("Choice")] == ["yes", "no"]
