import 'dart:typed_data';

/// A photo's pixels as 8-bit RGB, row after row: [rgb] holds width * height * 3 bytes.
class RgbPixels {
  RgbPixels(this.rgb, this.width, this.height) {
    if (width <= 0 || height <= 0 || rgb.length != width * height * 3) {
      throw ArgumentError('$width x $height RGB pixels need ${width * height * 3} bytes, got ${rgb.length}');
    }
  }

  final Uint8List rgb;
  final int width;
  final int height;
}

/// The source row (or column) each of [target] output rows (or columns) takes, squishing [source] to
/// [target]: index i takes floor(i * (source / target)), the ratio computed first, in double
/// precision. This is the `image` package's nearest-neighbour copyResize and
/// paddy_edge.phone.preprocess.squish_nearest (numpy: `(arange(target) * (source / target))
/// .astype(int64)`), the very same IEEE operations, so the three pick the same pixels. Upscaling repeats
/// rows, downscaling drops some.
List<int> squishIndices(int source, int target) {
  final ratio = source / target;
  return [for (var i = 0; i < target; i++) (i * ratio).toInt()];
}

/// The model's input for one photo: the mapping paddy_edge.phone.preprocess.app_input implements, which
/// the pipeline evaluates with and the model card's contract names.
///
/// Squish the whole photo to [width] x [height] (nearest neighbour, [squishIndices]; the aspect ratio
/// is not kept), divide each 8-bit channel by 255, subtract [mean] and divide by [std] (RGB order), and
/// lay the three planes out as NCHW float32 (batch of one): R plane, then G, then B.
///
/// Each step is rounded to float32 as numpy computes it in float32 (x / 255, then - mean, then / std,
/// with mean and std themselves float32), so the result matches the Python side bit for bit, not only
/// to a tolerance (test/preprocess_test.dart checks cases the Python code generated).
Float32List appInput(RgbPixels pixels, int width, int height, List<double> mean, List<double> std) {
  if (width <= 0 || height <= 0) {
    throw ArgumentError('the model input must be at least 1 x 1, is $width x $height');
  }
  if (mean.length != 3 || std.length != 3) {
    throw ArgumentError('mean and std need 3 values each (RGB), have ${mean.length} and ${std.length}');
  }
  final mean32 = Float32List.fromList(mean);
  final std32 = Float32List.fromList(std);
  final rows = squishIndices(pixels.height, height);
  final columns = squishIndices(pixels.width, width);
  final plane = width * height;
  final out = Float32List(3 * plane);
  final step = Float32List(1); // each intermediate value, rounded to float32 as numpy keeps it
  for (var y = 0; y < height; y++) {
    final rowStart = rows[y] * pixels.width;
    for (var x = 0; x < width; x++) {
      final source = (rowStart + columns[x]) * 3;
      final target = y * width + x;
      for (var c = 0; c < 3; c++) {
        step[0] = pixels.rgb[source + c] / 255.0;
        step[0] = step[0] - mean32[c];
        out[c * plane + target] = step[0] / std32[c];
      }
    }
  }
  return out;
}
