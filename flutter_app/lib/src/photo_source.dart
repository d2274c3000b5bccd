import 'dart:io' show Platform;
import 'dart:typed_data';

import 'package:flutter/services.dart' show PlatformException;
import 'package:image_picker/image_picker.dart';

/// Returns the bytes of a photo from [source], or null when the person cancels; throws
/// [PhotoException] when no photo can be had (camera permission denied, no camera, ...).
typedef PickImage = Future<Uint8List?> Function(ImageSource source);

/// Returns a photo taken before Android destroyed the app while the camera was open, or null when
/// there is none; throws [PhotoException] when that earlier pick had failed.
typedef RecoverLostPhoto = Future<Uint8List?> Function();

/// A photo could not be had; [message] says why and what to do.
class PhotoException implements Exception {
  const PhotoException(this.message);

  final String message;

  @override
  String toString() => message;
}

/// Photos are scaled to at most 1024 px by the picker: the model input is far smaller, and decoding a
/// 12-megapixel photo in Dart would take seconds.
Future<Uint8List?> pickWithImagePicker(ImageSource source) async {
  final XFile? file;
  try {
    file = await ImagePicker().pickImage(source: source, maxWidth: 1024, maxHeight: 1024);
  } on PlatformException catch (error) {
    throw PhotoException(describePickFailure(error, source));
  }
  if (file == null) {
    return null;
  }
  return file.readAsBytes();
}

/// Android can kill the app while the camera app is in front (low memory); the photo then arrives
/// on the next start, through image_picker's retrieveLostData. Other platforms have nothing to recover.
Future<Uint8List?> recoverWithImagePicker() async {
  if (!Platform.isAndroid) {
    return null;
  }
  final response = await ImagePicker().retrieveLostData();
  if (response.isEmpty) {
    return null;
  }
  final error = response.exception;
  if (error != null) {
    throw PhotoException(describePickFailure(error, ImageSource.camera));
  }
  final file = response.file;
  if (file == null) {
    return null;
  }
  return file.readAsBytes();
}

/// A message for the error codes image_picker's Android side reports (ImagePickerDelegate.java).
String describePickFailure(PlatformException error, ImageSource source) {
  final where = source == ImageSource.camera ? 'camera' : 'gallery';
  switch (error.code) {
    case 'camera_access_denied':
      return "The camera permission was denied. Allow it in the phone's Settings > Apps > "
          'Paddy Doctor > Permissions, or choose a photo from the gallery.';
    case 'photo_access_denied':
      return "Access to photos was denied. Allow it in the phone's Settings, or take a photo with "
          'the camera.';
    case 'no_available_camera':
      return 'No camera app is available on this phone. Choose a photo from the gallery.';
    case 'already_active':
      return 'The $where is already open.';
    case 'no_valid_image_uri':
      return 'The chosen photo could not be found. Try another one.';
    default:
      return 'Could not get a photo from the $where (${error.code}: ${error.message ?? 'no details'}).';
  }
}
