import 'dart:typed_data';

import 'package:image/image.dart' as img;

import 'classifier.dart' show ImageDecodeException, decodeFailureMessage;
import 'preprocess.dart';

/// A photo's bytes to the model's input (NCHW float32): [decodePhoto], then [appInput] at the card's
/// size, mean and std. Throws [ImageDecodeException] when the bytes are no image.
Float32List preparePhoto(Uint8List bytes, int width, int height, List<double> mean, List<double> std) {
  final pixels = decodePhoto(bytes);
  if (pixels == null) {
    throw const ImageDecodeException(decodeFailureMessage);
  }
  return appInput(pixels, width, height, mean, std);
}

/// Decodes an encoded photo (JPEG, PNG, WebP, ...) to 8-bit RGB, or returns null when [bytes] are no
/// image this decoder can read.
///
/// Upright as the pipeline sees it (paddy_edge.phone.images): the `image` package's decodeImage bakes a
/// JPEG's EXIF orientation into the pixels (its JPEG decoder, getImageFromJpeg) and ignores EXIF in a
/// PNG, and images.py turns a JPEG upright by its Orientation tag and never a PNG.
/// Channels as PIL's convert("RGB") gives them: palette entries looked up, alpha dropped (not blended),
/// grey (and grey + alpha) copied to all three channels, 16-bit channels by their high byte (as PIL reads
/// a 16-bit RGB PNG), fewer bits and float channels scaled to 0..255.
/// The first frame of an animation.
RgbPixels? decodePhoto(Uint8List bytes) {
  final img.Image? image;
  try {
    image = img.decodeImage(bytes);
  } catch (_) {
    return null; // a truncated or corrupt file can make a decoder throw rather than return null
  }
  if (image == null || image.width <= 0 || image.height <= 0) {
    return null;
  }
  return rgbOf(image);
}

/// The pixels of a decoded [image] as 8-bit RGB, row after row.
RgbPixels rgbOf(img.Image image) {
  final rgb = Uint8List(image.width * image.height * 3);
  final grey = !image.hasPalette && image.numChannels < 3;
  final eightBit = image.maxChannelValue == 255; // uint8, or a palette of uint8 colours
  final sixteenBit = image.maxChannelValue == 65535; // the high byte, as PIL reads a 16-bit PNG
  var i = 0;
  for (final pixel in image) {
    if (eightBit) {
      final r = pixel.r.toInt();
      rgb[i] = r;
      rgb[i + 1] = grey ? r : pixel.g.toInt();
      rgb[i + 2] = grey ? r : pixel.b.toInt();
    } else if (sixteenBit) {
      final r = pixel.r.toInt() >> 8;
      rgb[i] = r;
      rgb[i + 1] = grey ? r : pixel.g.toInt() >> 8;
      rgb[i + 2] = grey ? r : pixel.b.toInt() >> 8;
    } else {
      final r = _eightBits(pixel.rNormalized);
      rgb[i] = r;
      rgb[i + 1] = grey ? r : _eightBits(pixel.gNormalized);
      rgb[i + 2] = grey ? r : _eightBits(pixel.bNormalized);
    }
    i += 3;
  }
  return RgbPixels(rgb, image.width, image.height);
}

int _eightBits(num normalized) => (normalized * 255).round().clamp(0, 255).toInt();
