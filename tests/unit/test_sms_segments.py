from translations.sms import is_gsm7, segment_info


def test_gsm7_single_and_concatenated_limits():
    assert segment_info("a" * 160).segments == 1
    assert segment_info("a" * 161).segments == 2
    assert segment_info("a" * 306).segments == 2
    assert segment_info("a" * 307).segments == 3
    assert segment_info("").segments == 0


def test_extension_characters_cost_two_septets():
    info = segment_info("€" * 80)
    assert info.encoding == "GSM-7" and info.units == 160 and info.segments == 1
    assert segment_info("€" * 81).segments == 2


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2():
    assert is_gsm7("Hej, vad är betänketid? Å Ö é")
    assert not is_gsm7("Ce este perioada de reflecție?")
    info = segment_info("ș" + "a" * 69)
    assert (info.encoding, info.segments) == ("UCS-2", 1)
    assert segment_info("ș" + "a" * 70).segments == 2
    assert segment_info("ș" * 134).segments == 2
    assert segment_info("ș" * 135).segments == 3


def test_characters_outside_the_bmp_count_as_two_ucs2_units():
    info = segment_info("🙂" * 35)
    assert info.units == 70 and info.segments == 1
